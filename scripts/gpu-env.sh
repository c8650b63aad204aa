# Sourced on this workplace's GPU machine (bash): unpacks what scripts/gpu-payload.sh packed into
# .gpu/ and the Vulkan loader carried as .gl/*.deb (per the device tool's README), points the
# loader at the NVIDIA driver and puts Node on PATH. Sets OUT if unset.
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
icd=$(ls /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json 2>/dev/null | head -1)
[ -n "$icd" ] && export VK_DRIVER_FILES=$icd
mkdir -p /tmp/node/bin
xz -dc .gpu/node.xz >/tmp/node/bin/node && chmod +x /tmp/node/bin/node
export PATH=/tmp/node/bin:$PATH
[ -f .gpu/node_modules/webgpu/dist/linux-x64/dawn.node.xz ] && xz -d .gpu/node_modules/webgpu/dist/linux-x64/dawn.node.xz
{ date -u; nvidia-smi -L; nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv; node --version; nproc; echo "ICD: ${icd:-none}"; } 2>&1 | tee "$OUT/machine.log"

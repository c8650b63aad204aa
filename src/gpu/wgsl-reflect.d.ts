// wgsl_reflect's "main" entry is CommonJS inside a "type": "module" package and fails to load in
// Node's ESM loader; its ES module build is imported by path, with the package's own types.
declare module 'wgsl_reflect/wgsl_reflect.module.js' {
  export * from 'wgsl_reflect';
}

import { defineConfig } from 'vitest/config';

// The daemon the dev server forwards API calls to (`npm run dev`); the built UI is served by the
// daemon itself, so production needs no proxy.
const daemon = process.env.MLXR_DAEMON ?? 'http://127.0.0.1:8080';
const proxied = ['/v1', '/api', '/metrics', '/health'];

export default defineConfig({
  // No React plugin: esbuild's automatic JSX runtime is all we need (no fast refresh in dev).
  esbuild: { jsx: 'automatic' },
  base: './',
  build: { outDir: 'dist', sourcemap: false, target: 'es2022' },
  server: { proxy: Object.fromEntries(proxied.map((p) => [p, { target: daemon, changeOrigin: false }])) },
  test: { environment: 'node', include: ['src/**/*.test.ts', 'src/**/*.test.tsx'] },
});

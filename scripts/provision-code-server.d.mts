// Types for provision-code-server.mjs, so TypeScript tests can import it under strict mode.

export declare const CODE_SERVER_VERSION: string;
export declare function defaultCacheRoot(): string;
export declare function codeServerDir(cacheRoot?: string): string;
export declare function codeServerEntry(dir?: string): string;
export declare function isProvisioned(dir?: string): boolean;
/** Provisions code-server when needed (minutes the first time, instant when cached); resolves to entry.js. */
export declare function provisionCodeServer(options?: {
  cacheRoot?: string;
  log?: (line: string) => void;
}): Promise<string>;

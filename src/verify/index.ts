/** `ecamo/verify`: the package `@ecamo/verify` (packages/verify), as an entry point of the server package for those who installed `ecamo`. */
export * from '@ecamo/verify';

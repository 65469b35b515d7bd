/** `ecamo/signer`: the package `@ecamo/signer` (packages/signer), as an entry point of the server package for those who installed `ecamo`. */
export * from '@ecamo/signer';

// Typed IPAM failures; cni/errors.ts maps them to CNI error codes.

/** The configured range is invalid (a config problem: CNI code 7). */
export class IpamRangeError extends Error {
  override name = 'IpamRangeError';
}

/** Every address of the range is reserved. */
export class IpamExhaustedError extends Error {
  override name = 'IpamExhaustedError';
}

/** The reservation store cannot be read or written (CNI code 5). */
export class IpamStoreError extends Error {
  override name = 'IpamStoreError';
}

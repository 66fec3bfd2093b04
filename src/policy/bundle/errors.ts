// The one error class for a bundle that cannot be used: unreadable, too large, malformed,
// unsigned when a signature is required, or failing its signature check.
export class BundleError extends Error {
  override name = 'BundleError';
}

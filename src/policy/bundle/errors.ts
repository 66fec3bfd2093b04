// The one error class for a bundle that cannot be used: unreadable, too large, malformed,
// unsigned when a signature is required, or failing its signature check.
import { McpgateError } from '../../util/errors.js';

export class BundleError extends McpgateError {
  static override readonly code = 'ERR_BUNDLE_INVALID';
}

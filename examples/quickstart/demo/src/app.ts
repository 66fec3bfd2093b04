// Demo source file the code-review policy lets an agent read.
import { Button } from './components/Button';

export function main(): string {
  return Button({ label: 'Review me' });
}

// CNI_NETNS validation shared by ADD and CHECK.
import { checkNetnsPath } from '../lib/iproute2/netns.ts';
import { CniError, ErrorCode } from './errors.ts';

export function requireNetns(netns: string): void {
  if (!netns.startsWith('/')) throw new CniError(ErrorCode.InvalidEnvironment, `CNI_NETNS ${JSON.stringify(netns)} must be an absolute path`);
  const check = checkNetnsPath(netns);
  if (!check.ok) throw new CniError(ErrorCode.InvalidEnvironment, `CNI_NETNS: ${check.detail}`);
}

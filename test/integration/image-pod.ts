// What image.test.ts and image-ovs.test.ts share: a containerd node (containerd-node.ts) made
// ready for the agent's image as a Kubernetes node would be (eth1, ip_forward, a fake API server
// reached on the node's 127.0.0.1, the service account kubelet mounts), and the agent's and the
// uninstall's containers run with `ctr run` the way a DaemonSet of manifests/ describes them.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import yaml from 'js-yaml';
import { relayInto, type ApiRelay } from '../support/api-relay.ts';
import { FAKE_TOKEN, TEST_CA_FILE, makeNode, startFakeApiServer, type FakeApiServer } from '../support/fake-apiserver.ts';
import { ContainerdNode, exec, execOk, until, within, type Done } from './containerd-node.ts';

const REPO = path.resolve(import.meta.dirname, '../..');

export interface KubeNode {
  api: FakeApiServer;
  relay: ApiRelay;
  /** The directory kubelet would mount at /var/run/secrets/kubernetes.io/serviceaccount. */
  serviceAccount: string;
  apiPort: string;
}

/**
 * The started node's eth1 (nodeIp/24), ip_forward on (a node prerequisite the unprivileged agent
 * cannot set), a fake API server holding this Node and a peer, relayed to the node's 127.0.0.1,
 * and the service account. The caller closes api and relay.
 */
export async function prepareKubeNode(node: ContainerdNode, self: { name: string; ip: string; podCidr: string }, peer: { name: string; ip: string; podCidr: string }): Promise<KubeNode> {
  for (const args of [
    ['link', 'set', 'lo', 'up'], // the API relay listens on the node's 127.0.0.1
    ['link', 'add', 'eth1', 'type', 'veth', 'peer', 'name', 'eth1peer'], ['addr', 'add', `${self.ip}/24`, 'dev', 'eth1'],
    ['link', 'set', 'eth1peer', 'up'], ['link', 'set', 'eth1', 'up'],
  ]) {
    await execOk(['ip', '-n', node.netns, ...args]);
  }
  await execOk(['nsenter', `--net=/run/netns/${node.netns}`, '--', 'sh', '-c', 'echo 1 > /proc/sys/net/ipv4/ip_forward']);
  const api = await startFakeApiServer([
    makeNode({ name: self.name, podCIDR: self.podCidr, internalIP: self.ip, containerRuntimeVersion: 'containerd://1.6.20' }),
    makeNode({ name: peer.name, podCIDR: peer.podCidr, internalIP: peer.ip, annotations: { 'bridgeway.io/eth1-ip': peer.ip } }),
  ], { tls: { auth: 'token' } });
  let relay: ApiRelay;
  try {
    relay = await relayInto(`/run/netns/${node.netns}`, node.work, api);
  } catch (error) {
    await api.close();
    throw error;
  }
  const serviceAccount = path.join(node.work, 'serviceaccount');
  fs.mkdirSync(serviceAccount);
  fs.writeFileSync(path.join(serviceAccount, 'token'), FAKE_TOKEN);
  fs.copyFileSync(TEST_CA_FILE, path.join(serviceAccount, 'ca.crt'));
  fs.writeFileSync(path.join(serviceAccount, 'namespace'), 'kube-system');
  return { api, relay, serviceAccount, apiPort: new URL(api.url).port };
}

/**
 * `ctr run` flags for a DaemonSet's container (a manifest's DaemonSet, with the agent's ConfigMap
 * from the same install), plus what kubelet adds (the service account and the API's Service
 * address). hostPath volumes are the node's own paths: node.sh gives the node private copies of
 * the CNI directories and /var/log/bridgeway; /run/xtables.lock, the machine's, is swapped for a
 * lock file of the node's own; `hostPaths` maps any other host path to the node's own (a path of
 * the machine is refused).
 */
export async function podOptions(node: ContainerdNode, daemonSet: any, configMap: any, kube: KubeNode, nodeName: string, hostPaths: Record<string, string> = {}): Promise<{ flags: string[]; args: string[]; readiness: { path: string; port: number } }> {
  const { serviceAccount, apiPort } = kube;
  const spec = daemonSet.spec.template.spec;
  const [container] = spec.containers;
  const flags: string[] = [];

  assert.equal(spec.hostNetwork, true);
  flags.push('--net-host');
  const security = container.securityContext;
  assert.equal(security.privileged, false, 'not privileged: no --privileged');
  // ctr sets no_new_privs unless --allow-new-privs, as allowPrivilegeEscalation: false does.
  assert.equal(security.allowPrivilegeEscalation, false);
  assert.equal(security.runAsUser, 0, 'the image\'s USER 0:0');
  assert.deepEqual(security.capabilities.drop, ['ALL']);
  // ctr has no "drop ALL": it drops its default set one by one, and applies drops after adds, so
  // an added capability is not dropped (the test reads the result from /proc).
  const added = security.capabilities.add as string[];
  const ctrDefaults = ['CHOWN', 'DAC_OVERRIDE', 'FSETID', 'FOWNER', 'MKNOD', 'NET_RAW', 'SETGID', 'SETUID', 'SETFCAP', 'SETPCAP', 'NET_BIND_SERVICE', 'SYS_CHROOT', 'KILL', 'AUDIT_WRITE'];
  for (const capability of ctrDefaults.filter((c) => !added.includes(c))) flags.push('--cap-drop', `CAP_${capability}`);
  for (const capability of added) flags.push('--cap-add', `CAP_${capability}`);

  for (const variable of container.env) {
    assert.equal(variable.valueFrom?.fieldRef?.fieldPath, 'spec.nodeName', `env ${variable.name}`);
    flags.push('--env', `${variable.name}=${nodeName}`);
  }
  assert.deepEqual(container.envFrom, [{ configMapRef: { name: configMap.metadata.name } }]);
  for (const [key, value] of Object.entries(configMap.data as Record<string, string>)) flags.push('--env', `${key}=${value}`);
  flags.push('--env', 'KUBERNETES_SERVICE_HOST=127.0.0.1', '--env', `KUBERNETES_SERVICE_PORT=${apiPort}`);
  flags.push('--mount', `type=bind,src=${serviceAccount},dst=/var/run/secrets/kubernetes.io/serviceaccount,options=rbind:ro`);

  // /var/log: the uninstall mounts it to remove /var/log/bridgeway, which is the node's own there.
  const private_ = ['/etc/cni/net.d', '/opt/cni/bin', '/var/lib/cni', '/var/log/bridgeway', '/var/log'];
  for (const mount of container.volumeMounts) {
    const volume = spec.volumes.find((v: { name: string }) => v.name === mount.name);
    const hostPath: string = volume.hostPath.path;
    let source = hostPath;
    if (hostPath === '/run/xtables.lock') source = path.join(node.work, 'xtables.lock');
    else if (hostPaths[hostPath]) source = hostPaths[hostPath];
    else assert.ok(private_.some((p) => hostPath === p || hostPath.startsWith(`${p}/`)), `${hostPath} would be the machine's: give the node its own`);
    if (volume.hostPath.type === 'DirectoryOrCreate') await execOk(node.inNode(['mkdir', '-p', source]));
    else if (volume.hostPath.type === 'FileOrCreate') await execOk(node.inNode(['touch', source]));
    else if (volume.hostPath.type === 'Directory') await execOk(node.inNode(['test', '-d', source]));
    else assert.fail(`hostPath type ${volume.hostPath.type}`);
    flags.push('--mount', `type=bind,src=${source},dst=${mount.mountPath},options=rbind:${mount.readOnly ? 'ro' : 'rw'}`);
  }
  const probe = container.readinessProbe.httpGet;
  return { flags, args: container.args ?? [], readiness: { path: probe.path, port: Number(container.ports.find((p: { name: string }) => p.name === probe.port)?.containerPort ?? probe.port) } };
}

/** The one document of a kind in a manifest file (relative to the repository). */
export function documentIn(file: string, kind: string): any {
  const documents = yaml.loadAll(fs.readFileSync(path.join(REPO, file), 'utf8')) as any[];
  const found = documents.filter((d) => d?.kind === kind);
  assert.equal(found.length, 1, `${file} holds one ${kind}`);
  return found[0];
}

/** The HTTP status of GET http://127.0.0.1:<port><path> in the node's network namespace (0: no answer). */
export function statusInNode(node: ContainerdNode, port: number, urlPath: string): Promise<number> {
  const script = `fetch('http://127.0.0.1:${port}${urlPath}').then((r) => console.log(r.status), () => console.log(0))`;
  return new Promise((resolve) => {
    const child = spawn('nsenter', [`--net=/run/netns/${node.netns}`, '--', process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('close', () => resolve(Number(out.trim()) || 0));
  });
}

/** `ctr <args>` in the node, running until the container exits. */
export function startContainer(node: ContainerdNode, runArgs: string[]): { child: ReturnType<typeof spawn>; done: Promise<Done>; output: () => string } {
  const argv = node.ctrArgv(['run', '--rm', ...runArgs]);
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const done = new Promise<Done>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout: output, stderr: '' }));
  });
  return { child, done, output: () => output };
}

/**
 * The uninstall DaemonSet's pod: its container started with `runArgs`, resolved once its readiness
 * probe answers 200 (the node is clean); fails with its output if it exits or never turns Ready.
 */
export async function startUninstallPod(node: ContainerdNode, runArgs: string[], readiness: { path: string; port: number }): Promise<ReturnType<typeof startContainer>> {
  const uninstaller = startContainer(node, runArgs);
  await until('the uninstall pod to turn Ready', 60_000, async () => {
    const exited = await within(uninstaller.done, 0);
    if (exited) throw new Error(`the uninstall container exited (${exited.code ?? exited.signal})`);
    return (await statusInNode(node, readiness.port, readiness.path)) === 200 || undefined;
  }).catch((error: Error) => {
    uninstaller.child.kill('SIGKILL'); // the caller's finally never sees it
    assert.fail(`${error.message}\n--- uninstall\n${uninstaller.output()}`);
  });
  assert.match(uninstaller.output(), /uninstall finished/);
  return uninstaller;
}

/** `ctr <args>` in the node, to completion, whatever its exit code (not spawnSync: the fake API server shares this event loop). */
export function runIn(node: ContainerdNode, args: string[], timeoutMs = 60_000): Promise<Done> {
  return exec(node.ctrArgv(args), timeoutMs);
}

/** A task's PID as the node's PID namespace sees it (where node.inNode's /proc is). */
export async function taskPid(node: ContainerdNode, id: string): Promise<number> {
  const listing = await execOk(node.ctrArgv(['task', 'ls']));
  const pid = Number(new RegExp(`^${id}\\s+(\\d+)\\s+RUNNING`, 'm').exec(listing)?.[1]);
  assert.ok(pid > 0, `task ${id} in:\n${listing}`);
  return pid;
}

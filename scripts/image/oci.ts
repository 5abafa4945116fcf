// Pure: the JSON documents of an OCI image archive (image-spec v1.0: the config, the manifest,
// index.json) plus the manifest.json of `docker save`, which `docker load` reads; containerd's
// `ctr images import` reads index.json. BuildKit's OCI exporter writes both the same way.
import type { ImageSpec } from './dockerfile.ts';

export const MEDIA_TYPES = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar+gzip',
} as const;

export interface Blob {
  /** sha256:<hex> */
  digest: string;
  size: number;
}

export interface Layer extends Blob {
  /** sha256 of the uncompressed tar: the config's rootfs.diff_ids. */
  diffId: string;
  /** The instruction that made it, for the config's history. */
  createdBy: string;
}

export interface ImageNames {
  /** What containerd stores: docker.io/library/bridgeway:0.1.0 */
  full: string;
  /** What docker load tags: bridgeway:0.1.0 */
  repoTag: string;
  /** index.json's org.opencontainers.image.ref.name: the tag. */
  tag: string;
}

/** A reference as Docker normalizes it: `name:tag`, `org/name:tag` or `registry/path:tag`. */
export function imageNames(reference: string): ImageNames {
  const match = /^((?:[a-z0-9.-]+(?::\d+)?\/)?[a-z0-9._/-]+):([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})$/.exec(reference);
  if (!match) throw new Error(`image reference must be <name>:<tag>, got ${JSON.stringify(reference)}`);
  const [, repository, tag] = match as unknown as [string, string, string];
  const first = repository.split('/')[0]!;
  const hasRegistry = repository.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  const full = hasRegistry ? repository : repository.includes('/') ? `docker.io/${repository}` : `docker.io/library/${repository}`;
  return { full: `${full}:${tag}`, repoTag: reference, tag };
}

/** Docker's and Go's names for the machine, as dpkg --print-architecture spells them. */
export function ociArchitecture(debianArchitecture: string): string {
  const known: Record<string, string> = { amd64: 'amd64', arm64: 'arm64', armhf: 'arm', i386: '386', ppc64el: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  const architecture = known[debianArchitecture];
  if (!architecture) throw new Error(`no OCI architecture for Debian's ${debianArchitecture}`);
  return architecture;
}

export function imageConfig(spec: ImageSpec, layers: Layer[], options: { architecture: string; created: string }): object {
  return {
    created: options.created,
    architecture: options.architecture,
    os: 'linux',
    config: {
      ...(spec.user !== undefined && { User: spec.user }),
      Env: spec.env,
      ...(spec.entrypoint && { Entrypoint: spec.entrypoint }),
      ...(spec.cmd && { Cmd: spec.cmd }),
      ...(spec.workdir !== undefined && { WorkingDir: spec.workdir }),
    },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    history: layers.map((l) => ({ created: options.created, created_by: l.createdBy })),
  };
}

export function imageManifest(config: Blob, layers: Blob[]): object {
  return {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.manifest,
    config: { mediaType: MEDIA_TYPES.config, digest: config.digest, size: config.size },
    layers: layers.map((l) => ({ mediaType: MEDIA_TYPES.layer, digest: l.digest, size: l.size })),
  };
}

export function imageIndex(manifest: Blob, names: ImageNames): object {
  return {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.index,
    manifests: [{
      mediaType: MEDIA_TYPES.manifest,
      digest: manifest.digest,
      size: manifest.size,
      annotations: { 'io.containerd.image.name': names.full, 'org.opencontainers.image.ref.name': names.tag },
    }],
  };
}

/** Where a blob lives in the archive. */
export function blobPath(blob: Blob): string {
  const [algorithm, hex] = blob.digest.split(':');
  return `blobs/${algorithm}/${hex}`;
}

/** `docker save`'s manifest.json, pointing into the same blobs. */
export function dockerManifest(config: Blob, layers: Blob[], names: ImageNames): object {
  return [{ Config: blobPath(config), RepoTags: [names.repoTag], Layers: layers.map(blobPath) }];
}

export const OCI_LAYOUT = { imageLayoutVersion: '1.0.0' };

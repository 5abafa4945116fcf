import { test } from 'node:test';
import assert from 'node:assert/strict';
import { blobPath, dockerManifest, imageConfig, imageIndex, imageManifest, imageNames, ociArchitecture, MEDIA_TYPES } from '../../../../scripts/image/oci.ts';

test('image references as Docker normalizes them: containerd stores the full name, docker load the tag as given', () => {
  assert.deepEqual(imageNames('bridgeway:0.1.0'), { full: 'docker.io/library/bridgeway:0.1.0', repoTag: 'bridgeway:0.1.0', tag: '0.1.0' });
  assert.equal(imageNames('acme/bridgeway:1').full, 'docker.io/acme/bridgeway:1');
  assert.equal(imageNames('registry.example.com:5000/net/bridgeway:v2').full, 'registry.example.com:5000/net/bridgeway:v2');
  assert.equal(imageNames('localhost/bridgeway:dev').full, 'localhost/bridgeway:dev');
  assert.throws(() => imageNames('bridgeway'), /must be <name>:<tag>/);
  assert.throws(() => imageNames('Bridgeway:1'), /must be <name>:<tag>/);
});

test('architectures in OCI\'s spelling', () => {
  assert.equal(ociArchitecture('amd64'), 'amd64');
  assert.equal(ociArchitecture('armhf'), 'arm');
  assert.throws(() => ociArchitecture('mips64el'), /no OCI architecture/);
});

test('config, manifest, index and docker\'s manifest.json point at the same blobs', () => {
  const layers = [
    { digest: 'sha256:aa', size: 10, diffId: 'sha256:a0', createdBy: 'COPY --from=rootfs /rootfs/ /' },
    { digest: 'sha256:bb', size: 20, diffId: 'sha256:b0', createdBy: 'COPY --from=build /src/dist/x /usr/local/bin/' },
  ];
  const spec = { layers: [], env: ['PATH=/bin'], user: '0:0', entrypoint: ['/usr/local/bin/x'] };
  assert.deepEqual(imageConfig(spec, layers, { architecture: 'amd64', created: '1970-01-01T00:00:00.000Z' }), {
    created: '1970-01-01T00:00:00.000Z',
    architecture: 'amd64',
    os: 'linux',
    config: { User: '0:0', Env: ['PATH=/bin'], Entrypoint: ['/usr/local/bin/x'] },
    rootfs: { type: 'layers', diff_ids: ['sha256:a0', 'sha256:b0'] },
    history: layers.map((l) => ({ created: '1970-01-01T00:00:00.000Z', created_by: l.createdBy })),
  });
  const config = { digest: 'sha256:cc', size: 30 };
  assert.deepEqual(imageManifest(config, layers), {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.manifest,
    config: { mediaType: MEDIA_TYPES.config, digest: 'sha256:cc', size: 30 },
    layers: [{ mediaType: MEDIA_TYPES.layer, digest: 'sha256:aa', size: 10 }, { mediaType: MEDIA_TYPES.layer, digest: 'sha256:bb', size: 20 }],
  });
  const names = imageNames('bridgeway:0.1.0');
  const index = imageIndex({ digest: 'sha256:dd', size: 40 }, names) as { manifests: { digest: string; annotations: object }[] };
  assert.equal(index.manifests[0]!.digest, 'sha256:dd');
  assert.deepEqual(index.manifests[0]!.annotations, { 'io.containerd.image.name': 'docker.io/library/bridgeway:0.1.0', 'org.opencontainers.image.ref.name': '0.1.0' });
  assert.equal(blobPath(config), 'blobs/sha256/cc');
  assert.deepEqual(dockerManifest(config, layers, names), [{ Config: 'blobs/sha256/cc', RepoTags: ['bridgeway:0.1.0'], Layers: ['blobs/sha256/aa', 'blobs/sha256/bb'] }]);
});

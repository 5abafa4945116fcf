# The agent's image: dist/bridgeway, one Bun executable that is the CNI plugin and, run as
# bridgeway-agent, the agent (bin/role.ts), on a root filesystem cut down to what it runs. The agent
# speaks rtnetlink itself, so the root holds only the tools it still drives and the libraries
# everything links against: iptables (nft and legacy: the backend kube-proxy uses), nft (the doctor
# lists and uninstall deletes the anti-spoofing table) and libc. image/packages lists them;
# image/minimal-rootfs.sh cuts them out of an installed Debian, with no shell, apt or dpkg.
# scripts/build-image.sh builds this same image without Docker: it runs the rootfs stage's COPYs
# and RUNs in an mmdebstrap root and writes the final stage as an OCI archive, reading this file;
# test/integration/image.test.ts checks the archive against this file and runs it under containerd.
#
# Measured (scripts/build-image.sh, 2026-12-05; bench/README.md "Sizes"), files / gzip:
#   layer 1, the root filesystem:   7.9 MB /  3.0 MB  (debian:bookworm-slim alone: 74.8 MB)
#   layer 2, dist/bridgeway:      113.5 MB / 54.2 MB
#   the image:                    121.4 MB / 57.2 MB  (before issue 18: 333.6 MB / 130.4 MB)
FROM node:24-bookworm AS build
WORKDIR /src
COPY package.json package-lock.json ./
# npm ci runs bun's postinstall (allowScripts), which puts the Bun binary the build compiles with in place.
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build

# The root filesystem: image/packages installed, then cut down. The executable is here only so
# that the cut keeps the libraries it links against; the agent's name for it is a symlink here.
FROM debian:bookworm-slim AS rootfs
ARG SOURCE_DATE_EPOCH=0
ARG DEBIAN_FRONTEND=noninteractive
COPY image/packages image/minimal-rootfs.sh /image/
COPY --from=build /src/dist/bridgeway /image/dist/
RUN apt-get update \
 && /image/minimal-rootfs.sh packages | xargs apt-get install -y --no-install-recommends \
 && /image/minimal-rootfs.sh build /rootfs --link /usr/local/bin/bridgeway-agent=bridgeway /image/dist/bridgeway

FROM scratch
COPY --from=rootfs /rootfs/ /
# One executable, two roles (bin/role.ts): as bridgeway it is the CNI plugin, as bridgeway-agent
# (the symlink above) the agent, which installs this file into the host's /opt/cni/bin.
COPY --from=build /src/dist/bridgeway /usr/local/bin/
# The base had it; `kubectl exec ds/bridgeway -- bridgeway-agent doctor` finds the agent by it.
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
USER 0:0
ENTRYPOINT ["/usr/local/bin/bridgeway-agent"]

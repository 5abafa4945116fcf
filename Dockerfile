# The agent's image: the two executables of dist/ on a root filesystem cut down to what they run.
# Both are self-contained (the plugin with Bun inside, the agent with Node), so the root holds only
# the tools the agent drives and the libraries everything links against: iptables (nft and legacy),
# nft (the doctor lists and uninstall deletes the anti-spoofing table), ip (the Node agent's
# routes), libc and libstdc++. image/packages lists them; image/minimal-rootfs.sh cuts them out
# of an installed Debian, with no shell, apt or dpkg. scripts/build-image.sh builds this same
# image without Docker (mmdebstrap + the same script), and test/integration/image.test.ts checks
# that its result is what this file describes, then runs it under containerd.
#
# Measured (scripts/build-image.sh, bench/README.md "The image"), uncompressed / gzip:
#   layer 1, the root filesystem:  11.6 MB / 4.9 MB  (debian:bookworm-slim alone: 74.8 MB / 28 MB)
#   layer 2, dist/'s executables: 238.8 MB / 81.5 MB (the plugin 111.6 MB, the agent 127.1 MB)
#   the image:                    250.4 MB / 86.4 MB (was 333.6 MB / 130.4 MB)
FROM node:24-bookworm AS build
WORKDIR /src
COPY package.json package-lock.json ./
# npm ci runs bun's postinstall (allowScripts), which puts the Bun binary the build compiles with in place.
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build

# The root filesystem: image/packages installed, then cut down. The executables are here only so
# that the script keeps the libraries they link against.
FROM debian:bookworm-slim AS rootfs
ARG SOURCE_DATE_EPOCH=0
ARG DEBIAN_FRONTEND=noninteractive
COPY image/packages image/minimal-rootfs.sh /image/
COPY --from=build /src/dist/bridgeway /src/dist/bridgeway-agent /image/dist/
RUN apt-get update \
 && /image/minimal-rootfs.sh packages | xargs apt-get install -y --no-install-recommends \
 && /image/minimal-rootfs.sh build /rootfs /image/dist/bridgeway /image/dist/bridgeway-agent

FROM scratch
COPY --from=rootfs /rootfs/ /
# The agent installs /usr/local/bin/bridgeway (next to itself) into the host's /opt/cni/bin.
COPY --from=build /src/dist/bridgeway /src/dist/bridgeway-agent /usr/local/bin/
# The base had it; `kubectl exec ds/bridgeway -- bridgeway-agent doctor` finds the agent by it.
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
USER 0:0
ENTRYPOINT ["/usr/local/bin/bridgeway-agent"]

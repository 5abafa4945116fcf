# The agent's image. Both programs are self-contained executables (the plugin with Bun inside, the
# agent with Node), so the runtime stage needs only the tools they drive: iproute2, iptables (nft
# and legacy), nft (nftables: the doctor reads and uninstall deletes the anti-spoofing table, and
# the plugin's iproute2 fallback loads it) and nsenter. Size (computed, bench/README.md): debian:bookworm-slim 74.8 MB + these
# packages ~20 MB + the plugin 111 MB + the agent 127 MB = ~335 MB.
FROM node:24-bookworm AS build
WORKDIR /src
COPY package.json package-lock.json ./
# npm ci runs bun's postinstall (allowScripts), which puts the Bun binary the build compiles with in place.
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends iproute2 iptables nftables util-linux ca-certificates \
 && rm -rf /var/lib/apt/lists/*
# One executable, two roles (bin/role.ts): run as bridgeway it is the CNI plugin, as
# bridgeway-agent (this symlink) the agent, which installs its own file into the host's /opt/cni/bin.
COPY --from=build /src/dist/bridgeway /usr/local/bin/bridgeway
RUN ln -s bridgeway /usr/local/bin/bridgeway-agent
ENTRYPOINT ["/usr/local/bin/bridgeway-agent"]

# The token service as an image:
#   docker build -t fastify-token-issuer .
#   docker run -p 3000:3000 -v data:/data fastify-token-issuer
# Two stages: "build" compiles with the dev dependencies and the native toolchain; the image
# itself gets only the compiled output and the production dependencies, and no compilers.

FROM node:22-bookworm-slim AS build

# better-sqlite3 downloads a prebuilt binary when it can, and compiles one with node-gyp when it
# cannot, which takes python3, make and g++. argon2 ships its binaries in its npm package.
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*

WORKDIR /build
ENV npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false

# Only for a build behind a TLS-intercepting proxy: the path, inside the build, of a CA bundle
# that npm (through Node) should trust as well; .ci/container mounts this machine's bundle there
# with buildah's --volume. Unset, Node's own CAs are used.
ARG NODE_EXTRA_CA_CERTS

# node-gyp compiles against the headers that the node image carries next to its binary
# (<prefix>/include/node) instead of downloading them.
COPY package.json package-lock.json ./
RUN npm_config_nodedir="$(dirname "$(dirname "$(command -v node)")")" npm ci

# The sources and tsconfigs (.dockerignore lets nothing else in).
COPY . .
# Compile, drop the dev dependencies, keep only the loadable addon of better-sqlite3 (not its
# sources and object files), check that both native modules load, and gather what the image
# runs in /app.
RUN npm run build \
  && npm prune --omit=dev \
  && mv node_modules/better-sqlite3/build/Release/better_sqlite3.node /tmp/ \
  && rm -rf node_modules/better-sqlite3/build node_modules/better-sqlite3/deps \
    node_modules/better-sqlite3/src \
  && mkdir -p node_modules/better-sqlite3/build/Release \
  && mv /tmp/better_sqlite3.node node_modules/better-sqlite3/build/Release/ \
  && node -e "new (require('better-sqlite3'))(':memory:').close(); require('argon2')" \
  && mkdir /app \
  && mv package.json package-lock.json node_modules dist /app/

FROM node:22-bookworm-slim

# glibc hands memory blocks over 128 KiB straight back to the system when freed; otherwise each
# argon2 verification's 19 MiB stays in the process for good.
ENV NODE_ENV=production \
  MALLOC_MMAP_THRESHOLD_=131072 \
  HOST=0.0.0.0 \
  PORT=3000 \
  DATA_DIR=/data

WORKDIR /app
# package.json, the production node_modules and the compiled dist/, owned by root: read-only
# for the service's user.
COPY --from=build /app ./

# The data directory belongs to the image's unprivileged user "node" (uid 1000), and a new named
# volume mounted here starts out with that owner. A host directory mounted instead must be
# writable by uid 1000.
RUN mkdir -m 0700 /data && chown node:node /data
VOLUME /data
USER node

EXPOSE 3000

# Node's own fetch: the slim image has no curl.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.PORT}/health/ready`, { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

# node itself is the container's first process (no shell, no npm, not the base image's
# entrypoint script), so it receives SIGTERM from `docker stop` and shuts down gracefully.
# Other commands replace it: docker run ... fastify-token-issuer node dist/src/cli.js users list
ENTRYPOINT []
# A young generation of 2 MiB (V8's default is 16) and an old one of at most 256 MiB keep the
# heap of a busy service small at no cost in throughput (see BENCHMARKS.md); npm start passes
# the same flags.
CMD ["node", "--max-semi-space-size=2", "--max-old-space-size=256", "dist/src/server.js"]

# Overair in a container: `docker build -t overair .` (or `podman build --format docker -t overair .`).
# See docs/deployment-container.md. BASE_IMAGE is any Debian-based image with Node.js 20.19+ and npm
# on the PATH; the official node:20-slim by default.
ARG BASE_IMAGE=node:20-slim

# Build stage: all dependencies, the compiler for better-sqlite3 (used when no prebuilt binary fits),
# the TypeScript build and the dashboard; then the devDependencies are pruned away.
FROM ${BASE_IMAGE} AS build
RUN export DEBIAN_FRONTEND=noninteractive \
  && apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY web ./web
RUN npm run build \
  && npm prune --omit=dev --no-audit --no-fund

# Runtime stage: Node.js, the production dependencies (better-sqlite3 already compiled) and dist.
FROM ${BASE_IMAGE} AS runtime
ENV NODE_ENV=production \
  OVERAIR_DATA_DIR=/data \
  OVERAIR_HOST=0.0.0.0 \
  OVERAIR_PORT=3000
RUN groupadd --system --gid 10001 overair \
  && useradd --system --uid 10001 --gid overair --home-dir /data --no-create-home overair \
  && mkdir /data \
  && chown overair:overair /data
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
USER overair
# The SQLite database and the bundles (with the default OVERAIR_STORAGE=fs) live here.
VOLUME ["/data"]
EXPOSE 3000
# Node.js itself asks /healthz (the image has no curl). OVERAIR_PORT set at run time is followed.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.OVERAIR_PORT || 3000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Exec form: node is PID 1 and gets SIGTERM itself; it stops accepting, lets requests in flight
# finish (OVERAIR_SHUTDOWN_TIMEOUT, 25s by default) and exits 0.
STOPSIGNAL SIGTERM
# Huge pages for the device memory (src/server-node-flags.ts): less CPU per update check at a million devices.
ENV GLIBC_TUNABLES=glibc.malloc.hugetlb=1
ENTRYPOINT ["node", "--max-semi-space-size=64", "/app/dist/cli/main.js"]
CMD ["serve"]

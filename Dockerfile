# Build stage: every dependency (better-sqlite3 and re2 compile when no prebuilt binary fits), the
# compiled JavaScript in dist/, then the development dependencies pruned away.
FROM node:20-bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

# Run stage: the compiled output and the production node_modules, no compiler, no sources.
FROM node:20-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
# The image's own `node` user owns the data directory (a named volume mounted there starts as a
# copy of it); nothing runs as root.
RUN mkdir -m 0700 /var/lib/certmid && chown node:node /var/lib/certmid
USER node
ENV HOST=0.0.0.0 PORT=8470 DATA_DIR=/var/lib/certmid
# Each password check (scrypt) allocates 16 MB on one of libuv's four threads; glibc's moving mmap
# threshold would keep that memory in each thread's arena for good (some 70 MB after a few logins).
# A fixed threshold hands such blocks back to the system when they are freed.
ENV MALLOC_MMAP_THRESHOLD_=1048576
VOLUME /var/lib/certmid
EXPOSE 8470 8443
# node itself is PID 1 (no npm or shell between), so `docker stop`'s SIGTERM reaches the daemon,
# which stops gracefully (src/signals.ts).
CMD ["node", "--enable-source-maps", "--max-semi-space-size=2", "dist/src/main.js"]

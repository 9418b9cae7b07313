# syntax=docker/dockerfile:1
# Build stage: type-check and bundle with the pinned toolchain (npm run build).
FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.base.json tsconfig.build.json ./
COPY hack/build.ts hack/build.ts
COPY hack/control-plane/paths.ts hack/control-plane/paths.ts
COPY shared shared
COPY extension extension
COPY operator operator
RUN npm run build

# Runtime stage: the one bundled file and its source map, no node_modules, as a non-root user.
FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /src/dist dist
USER 65532:65532
EXPOSE 9443 8080 8081
ENTRYPOINT ["node", "--enable-source-maps", "dist/capi-vip-allocator.mjs"]

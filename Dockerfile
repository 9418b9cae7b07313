# syntax=docker/dockerfile:1
# The Node base of both stages. `npm run image` (hack/image.ts) passes a locally made one where no
# image registry is reachable; what users build keeps the public image.
ARG NODE_IMAGE=node:24-bookworm-slim

# Build stage: type-check and bundle with the pinned toolchain (npm run build).
FROM ${NODE_IMAGE} AS build
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
FROM ${NODE_IMAGE}
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /src/dist dist
USER 65532:65532
EXPOSE 9443 8080 8081
ENTRYPOINT ["node", "--enable-source-maps", "dist/capi-vip-allocator.mjs"]

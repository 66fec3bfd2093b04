# mcpgate container image. See docs/architecture.md#deployment.
#
#   docker build -t mcpgate .
#   docker run -p 8080:8080 -v "$PWD/mcpgate.yaml:/etc/mcpgate/mcpgate.yaml:ro" mcpgate
#
# The mounted config must set gateway.host: 0.0.0.0 (the default 127.0.0.1 is unreachable
# from outside the container) and should point policy.bundle at /app/wasm/bundle.tar.gz,
# the bundle built below (relative paths resolve against /etc/mcpgate/).

# ---- 1. OPA CLI, built from source at the pinned version -------------------------------
FROM golang:1.26-bookworm AS opa
WORKDIR /src
COPY scripts/opa-version scripts/opa-version
# A static binary, so it runs in the Debian-based Node image whatever its libc.
RUN CGO_ENABLED=0 GOFLAGS=-trimpath GOBIN=/out \
      go install "github.com/open-policy-agent/opa@$(cat scripts/opa-version)" \
 && /out/opa version

# ---- 2. Build: TypeScript, the policy bundle, then production dependencies only --------
FROM node:24-bookworm-slim AS build
WORKDIR /app
ENV npm_config_update_notifier=false
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY bin ./bin
# Only src/ of the TypeScript: tsconfig.json also includes dev/ (the development IdP) and
# test/, which are not copied, so tsc compiles the gateway alone into dist/src. Nothing in
# src/ imports them (the CLI loads dist/dev/idp/cli.js at run time and says it is absent).
COPY src ./src
COPY scripts ./scripts
COPY rego ./rego
# tsc directly: the npm scripts put the checkout's pinned Node.js (.tools/node) first on
# PATH and would fetch it; here the image's Node.js 24 is the runtime.
RUN npx tsc -p tsconfig.json
# `mcpgate policy build` finds the OPA CLI at .tools/bin/opa.
COPY --from=opa /out/opa .tools/bin/opa
RUN node bin/mcpgate.js policy build
RUN npm prune --omit=dev

# ---- 3. Runtime ------------------------------------------------------------------------
# Node.js 24 LTS, the line of scripts/node-version (a unit test keeps the two in step); the
# tag follows its patch releases, so a rebuild picks up Node.js security fixes.
FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
RUN groupadd --system --gid 10001 mcpgate \
 && useradd --system --uid 10001 --gid mcpgate --create-home --home-dir /home/mcpgate --shell /usr/sbin/nologin mcpgate \
 && mkdir -p /etc/mcpgate
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/bin ./bin
COPY --from=build /app/rego ./rego
COPY --from=build /app/wasm ./wasm
USER 10001:10001
EXPOSE 8080
# The slim image has no curl; Node.js has fetch. Assumes the gateway listens on port 8080.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "bin/mcpgate.js"]
CMD ["start", "--config", "/etc/mcpgate/mcpgate.yaml"]

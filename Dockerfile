# ecamo: multi-stage build on Debian's image of the current Node LTS (26). (Not built in CI: no Docker engine there.)
FROM node:26-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.base.json ./
COPY packages ./packages
COPY src ./src
COPY test ./test
COPY bench ./bench
COPY contrib ./contrib
RUN npm ci --no-audit --no-fund && npm prune --omit=dev

FROM node:26-bookworm-slim
ENV NODE_ENV=production ECAMO_BIND=[::]:3000
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
# node_modules/@ecamo/* link to the workspace packages the server imports.
COPY --from=build /app/packages ./packages
COPY --from=build /app/dist/src ./dist/src
USER node
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=2s CMD node -e "fetch('http://127.0.0.1:3000/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# SIGTERM drains in-flight responses for ECAMO_SHUTDOWN_GRACE seconds, then exits 0.
ENTRYPOINT ["dist/src/cli/main.js"]
CMD ["serve"]

# One image for both processes: docker-compose.yml runs it as the API and as the worker.
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
# tsx runs the TypeScript sources; it is a runtime dependency.
RUN npm ci --omit=dev --no-audit --no-fund
COPY tsconfig.json ./
COPY catalog ./catalog
COPY src ./src
COPY webhooks ./webhooks
COPY workers ./workers
COPY vendor ./vendor
# The billing page (issue 11 §1): its sources, the typed client it uses, and its build, baked
# into the image so /billing/ needs nothing at run time (esbuild and preact are runtime deps).
COPY client ./client
COPY web ./web
COPY scripts ./scripts
RUN node --import tsx scripts/build-billing.ts
USER node
EXPOSE 3000
CMD ["node", "--import", "tsx", "webhooks/main.ts"]

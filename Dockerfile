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
USER node
EXPOSE 3000
CMD ["node", "--import", "tsx", "webhooks/main.ts"]

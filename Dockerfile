# One image for creditflow's API and worker (docker-compose runs it twice with different commands).
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm install --no-audit --no-fund --omit=optional --ignore-scripts && npm cache clean --force
COPY tsconfig.json ./
COPY catalog ./catalog
COPY src ./src
ENV NODE_ENV=production
USER node
CMD ["npx", "tsx", "src/api/server.ts"]

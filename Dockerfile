# One image for every role; the role is chosen by the command (`rootline start --role ...`).
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm install --omit=dev --no-audit --no-fund && npm cache clean --force
COPY bin ./bin
COPY services ./services
COPY ui ./ui
COPY models ./models
ENV ROOTLINE_HOST=0.0.0.0 ROOTLINE_PORT=8080 ROOTLINE_DATA_DIR=/data
VOLUME /data
EXPOSE 8080
ENTRYPOINT ["node", "bin/rootline.mjs"]
CMD ["start"]

FROM node:20-bookworm-slim
# better-sqlite3 and re2 compile when no prebuilt binary fits; openssl is used for PKCS#12 interop checks.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ openssl ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY . .
ENV HOST=0.0.0.0 PORT=8470 DATA_DIR=/var/lib/certmid
EXPOSE 8470
CMD ["npm", "start"]

# syntax=docker/dockerfile:1
# The DynamoDB endpoint for the compose stack: dynalite, the same emulator ./manage_all.sh up runs,
# at the version pinned by the repository's package-lock.json. Development only: on AWS the
# services use DynamoDB itself (DYNAMODB_ENDPOINT_URL empty).
#   docker build -f docker/dynalite.Dockerfile -t oficina/dynalite .

# By digest: a tag moves, a digest does not. The multi-architecture index of node:22.21.1-bookworm-slim;
# to move on, take the "Digest:" of `docker buildx imagetools inspect node:22-bookworm-slim`.
FROM node:22.21.1-bookworm-slim@sha256:25b3eb23a00590b7499f2a2ce939322727fcce1b15fdd69754fcd09536a3ae2c
WORKDIR /opt/dynalite
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --loglevel=error \
 && mkdir /data && chown 1000:1000 /data
# uid 1000 is the "node" user of the official image.
USER 1000:1000
VOLUME ["/data"]
EXPOSE 8000
CMD ["/opt/dynalite/node_modules/.bin/dynalite", "--port", "8000", "--path", "/data"]

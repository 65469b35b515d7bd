# On the image host, in front of the real service (which then listens on loopback only).
npx ecamo verify-proxy \
  --ecamo-origin "${ECAMO_ORIGIN:-https://ecamo.corp.example}" \
  --audience "${SOURCE_ORIGIN:-https://screenshots.corp.example}" \
  --upstream "${UPSTREAM:-http://127.0.0.1:8081}" \
  --listen "${LISTEN:-0.0.0.0:8080}"

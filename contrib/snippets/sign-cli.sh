# wiki-key.json is what `npx ecamo keygen --kid wiki-1 --origin https://wiki.corp.example` printed.
npx ecamo sign-url --key-file wiki-key.json https://images.example/cat.png
npx ecamo sign-url --key-file wiki-key.json --send-token --ttl 3600 https://screenshots.corp.example/42.png
npx ecamo sign-cookie --key-file wiki-key.json --canonical-origin https://ecamo.corp.example --ttl 300

# Would the ecamo configured in ECAMO_* accept a token, and if not, why?
npx ecamo inspect "$(npx ecamo sign-url --key-file wiki-key.json --ttl 60 https://images.example/cat.png)"

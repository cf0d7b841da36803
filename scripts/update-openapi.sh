#!/usr/bin/env bash
# Regenerates docs/openapi.json from the code (the API's own OpenAPI generator), through the test
# that otherwise fails when the file and the generated document differ.
set -euo pipefail
cd "$(dirname "$0")/.."
UPDATE_OPENAPI=1 dotnet test --project Orchestrator.IntegrationTests/Orchestrator.IntegrationTests.csproj -c Release -- \
    --filter-method "*CheckedInDocument_IsTheGeneratedDocument"
echo "docs/openapi.json regenerated; lint it with: (cd tools/contract && npm ci && npm run lint)"

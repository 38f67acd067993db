# Makefile fragment: npm dependencies of the SCIMMY end-to-end test target (`make scimmy-deps`,
# `make scimmy-clean`), included from the top-level Makefile. `npm ci` installs exactly
# package-lock.json from the npm registry (no git dependencies, no install scripts that download
# anything); internal/testenv/npm/install.mk has the recipe.

include internal/testenv/npm/install.mk
SCIMMY_DIR ?= internal/testenv/scimmy/npm
$(eval $(call npm-deps,scimmy,$(SCIMMY_DIR),18))

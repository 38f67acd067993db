# Makefile fragment: npm dependencies of the OAuth 2.0 test server, oidc-provider (`make oauth-deps`,
# `make oauth-clean`), installed like SCIMMY's; internal/testenv/npm/install.mk has the recipe.

include internal/testenv/npm/install.mk
OAUTH_DIR ?= internal/testenv/oidcprovider/provider
$(eval $(call npm-deps,oauth,$(OAUTH_DIR),20))

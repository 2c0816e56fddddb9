// Package interop tests mcpguard against third-party implementations: an
// RFC 8693 token exchange server built with github.com/zitadel/oidc/v3.
package interop

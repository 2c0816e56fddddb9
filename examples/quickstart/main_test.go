package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestQuickstartShowsEveryControl(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), &out))
	s := out.String()
	require.Contains(t, s, "model sees: Welcome to the docs.")
	require.Contains(t, s, "refused: code=denied stage=policy")
	require.Contains(t, s, "[REDACTED:aws-access-key]")
	require.NotContains(t, s, "AKIA4HK2WQ7ZNR5TXPLM", "the secret must never be printed")
	require.Contains(t, s, "mcpguard: unauthenticated: token type \"session+jwt\" is not a per-call access token")
	require.Contains(t, s, "refused at the TLS handshake")
	require.Contains(t, s, "rule:instruction-override")
	require.Contains(t, s, "rule:zero-width")
	require.Contains(t, s, "the model is offered [fetch_page read_file] (send_email was removed)")
	require.Contains(t, s, `code=denied stage=catalog: tool "send_email" is not in the catalog`)
	require.Contains(t, s, "client exchange   issued")
	require.Contains(t, s, "chain verified")
}

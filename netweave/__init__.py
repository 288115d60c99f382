"""netweave's command line: the one `netweave` command over the webhook, certs and the node runtime."""

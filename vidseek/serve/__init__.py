"""HTTP server for vidseek (REST contract in docs/api.md); `safety` holds its path, upload and sniffing guards."""

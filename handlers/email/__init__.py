"""Email: reading a reply (headers, authentication results, reply text, HTML to text) and delivering
the outbox's confirmations over SMTP. No Flask; imports only storage and the core."""

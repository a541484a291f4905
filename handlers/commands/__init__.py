"""The `flask` commands an operator runs beside the service: `cli.register` adds them to the app; the
others each hold one group of them, and `style` what they share (the style every command follows)."""

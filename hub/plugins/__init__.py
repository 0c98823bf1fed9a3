"""The plugin host: hook specifications and the plugin-manager factory."""

"""The plugin's widgets: the dock, its background task and results panel, and the helper dialogs."""

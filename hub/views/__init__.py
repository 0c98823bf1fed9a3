"""Bottom-up views: household facts, area aggregates and microdata, built per contract."""

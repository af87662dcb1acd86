"""What we found: CSV, HTML, JSON and console reports rendered from result records."""

"""Skill files: frontmatter contract and loader."""

"""Rendering: tables for people, JSON for scripts, explained plans for teaching."""

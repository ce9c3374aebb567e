"""Shared machinery: database base, access rules, errors, jobs, money, pagination."""

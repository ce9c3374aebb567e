"""Channel policy: versioned price lists, order rules, floors, tier and credit terms, publishing,
price resolution for a buyer, and the notifications that carry a policy to its audience."""

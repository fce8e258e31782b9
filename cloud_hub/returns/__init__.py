"""Returns from any channel at the hub: the purchase index and the authority over what is
still returnable.

- ``tables`` — purchases (POS sales and online orders alike), their lines and tenders, return
  authorizations, the returns stores report, the return policy.
- ``index`` — filling the index from stores' sales and from collected or shipped orders.
- ``lookup`` — finding purchases by receipt, order number, loyalty id or card token.
- ``authority`` — taking returnable units atomically (online returns), and verifying returns a
  store took offline (alerts for anything returned twice or outside policy).
- ``policy`` — the return policy HQ sets, sent to every store.
"""

\set amount random(1, 100000)
INSERT INTO public.accounts (owner, email, balance, status) VALUES ('new owner', 'new@example.org', :amount, 'open');

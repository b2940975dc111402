Feature: A car goes from the front desk to delivery
  The attendant opens a service order, the mechanic diagnoses the car, the customer approves
  the budget and pays by Pix, a mechanic does the work and the car is handed back.
  When something goes wrong, everything done so far is undone and the customer is told why.

  Background:
    Given Maria brought her car in with the complaint "barulho no motor"
    And the workshop has an oil change service for R$ 120.00 and 5 oil filters at R$ 35.50

  Scenario: Happy path, the car is delivered
    When the mechanic diagnoses an oil change and 2 oil filters
    Then the order is awaiting approval with a budget of R$ 191.00
    When Maria approves the budget
    Then the order is awaiting payment and 2 oil filters are reserved
    When Maria pays the Pix
    Then the order is in execution and the job is in the mechanics' queue
    When a mechanic takes the job and finishes it
    Then the order is finished and 2 oil filters left the stock
    When the attendant hands the car back
    Then the order is delivered
    And the saga is completed with every step completed
    And the order's history reads RECEIVED, IN_DIAGNOSIS, AWAITING_APPROVAL, AWAITING_PAYMENT, IN_EXECUTION, FINISHED, DELIVERED

  Scenario: Maria rejects the budget
    When the mechanic diagnoses an oil change and 2 oil filters
    And Maria rejects the budget because "muito caro"
    Then the order is cancelled and its history says "muito caro"
    And no oil filter is reserved
    And the saga is compensated

  Scenario: Maria never answers and the budget expires
    When the mechanic diagnoses an oil change and 2 oil filters
    And Maria does not answer until the budget expires
    Then the order is cancelled and its history says "expired"
    And the saga is compensated

  Scenario: The parts are not in stock
    When the mechanic diagnoses an oil change and 9 oil filters
    And Maria approves the budget
    Then the order is cancelled and its history says "stock"
    And no oil filter is reserved
    And the budget is cancelled
    And the saga is compensated

  Scenario: The payment is rejected
    When the mechanic diagnoses an oil change and 2 oil filters
    And Maria approves the budget
    And Maria's bank rejects the Pix
    Then the order is cancelled and its history says "payment"
    And no oil filter is reserved
    And the saga is compensated

  Scenario: The mechanic cannot do the job and Maria gets her money back
    When the mechanic diagnoses an oil change and 2 oil filters
    And Maria approves the budget
    And Maria pays the Pix
    And a mechanic takes the job and fails it because "motor fundido, sem conserto"
    Then the order is cancelled and its history says "motor fundido"
    And Maria's payment is refunded at Mercado Pago
    And no oil filter is reserved
    And 5 oil filters are in stock
    And the saga is compensated

  Scenario: An additional repair is found and Maria approves it
    When the mechanic diagnoses an oil change and 2 oil filters
    And Maria approves the budget
    And Maria pays the Pix
    And a mechanic takes the job and reports an extra oil filter
    Then a second budget version of R$ 226.50 waits for Maria
    When Maria approves the budget
    And Maria pays the additional Pix
    And the mechanic finishes the job
    Then the order is finished and 3 oil filters left the stock

  Scenario: An additional repair is found and Maria rejects it
    When the mechanic diagnoses an oil change and 2 oil filters
    And Maria approves the budget
    And Maria pays the Pix
    And a mechanic takes the job and reports an extra oil filter
    Then a second budget version of R$ 226.50 waits for Maria
    When Maria rejects the budget because "só o combinado"
    And the mechanic finishes the job
    Then the order is finished and 2 oil filters left the stock

  Scenario: The attendant cancels the order while the payment is pending
    When the mechanic diagnoses an oil change and 2 oil filters
    And Maria approves the budget
    And the order is awaiting payment and 2 oil filters are reserved
    And the attendant cancels the order because "cliente desistiu"
    Then the order is cancelled and its history says "cliente desistiu"
    And no oil filter is reserved
    And Maria's payment is cancelled at Mercado Pago
    And the saga is compensated

  # The edges workshops hit every week: nothing a person types may keep Maria's money.
  Scenario: The attendant cancels a paid order with a long reason and Maria gets her money back once
    When the mechanic diagnoses an oil change and 2 oil filters
    And Maria approves the budget
    And Maria pays the Pix
    And the attendant cancels the order with a 900-character reason
    Then the order is cancelled and its history says "cliente desistiu"
    And Maria's payment is refunded at Mercado Pago exactly once
    And no oil filter is reserved
    And the saga is compensated

  Scenario: The mechanic fails the job with a long reason and Maria gets her money back once
    When the mechanic diagnoses an oil change and 2 oil filters
    And Maria approves the budget
    And Maria pays the Pix
    And a mechanic takes the job and fails it with a 2000-character reason
    Then the order is cancelled and its history says "sem conserto"
    And Maria's payment is refunded at Mercado Pago exactly once
    And 5 oil filters are in stock
    And the saga is compensated

  Scenario: The attendant revises the budget while Maria decides
    When the mechanic diagnoses an oil change and 2 oil filters
    And the order is awaiting approval with a budget of R$ 191.00
    And the attendant adds an oil filter to the budget
    Then a second budget version of R$ 226.50 waits for Maria
    When Maria approves the budget
    Then the order is awaiting payment and 3 oil filters are reserved
    And Maria is asked to pay R$ 226.50
    When Maria pays the Pix
    And a mechanic takes the job and finishes it
    Then the order is finished and 3 oil filters left the stock

  Scenario: The attendant revises the budget during the work
    When the mechanic diagnoses an oil change and 2 oil filters
    And Maria approves the budget
    And Maria pays the Pix
    And a mechanic takes the job
    And the attendant adds an oil filter to the budget
    Then a second budget version of R$ 226.50 waits for Maria
    When Maria approves the budget
    Then Maria is asked to pay R$ 35.50
    When Maria pays the additional Pix
    And the mechanic finishes the job
    Then the order is finished and 3 oil filters left the stock

  Scenario: Maria approves two of three jobs, and the declined one comes back
    Given the workshop also does brakes for R$ 150.00 with pads at R$ 80.00 and sells tyres at R$ 300.00
    When the mechanic diagnoses the oil change, the brakes and 4 tyres as three jobs
    Then the order is awaiting approval with a budget of R$ 1701.00
    When Maria approves the oil change and the brakes and declines the tyres
    Then the order is awaiting payment and 2 oil filters are reserved
    And 2 brake pads are reserved and no tyre is
    And Maria is asked to pay R$ 501.00
    When Maria pays the Pix
    Then the job in the mechanics' queue lists only the oil change and the brakes
    When a mechanic takes the job and finishes it
    Then the order is finished and 2 oil filters left the stock
    When the attendant hands the car back
    Then the order is delivered
    And the order shows R$ 1200.00 declined and the car's declined work is the 4 tyres
    When 30 days pass
    Then Maria is e-mailed a link to bring the tyres back
    When Maria follows the link and asks for the tyres
    Then a new order for her car is open with the 4 tyres at today's price
